import DKMSTestSupport
import Testing

/// `dkms cache locations`, which the kernel hooks and common.postinst ask
/// before they skip a kernel without headers: the configured shared caches
/// one a line and status 0, or nothing and status 1.
@Suite("dkms cache locations")
struct CacheLocationsTests {
    let sandbox = DKMSSandbox()

    @Test func noSharedCacheExitsOneAndPrintsNothing() {
        let result = sandbox.dkms(["cache", "locations"])
        #expect(result.status == 1, "\(result.combined)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.isEmpty)
    }

    @Test func printsEachLocationInOrderAndExitsZero() {
        Files.write("build_cache_shared=\"http://fleet.example/cache  /srv/dkms-fleet\"\n", to: sandbox.etc + "/framework.conf")
        let result = sandbox.dkms(["cache", "locations"])
        #expect(result.status == 0, "\(result.combined)")
        #expect(result.stdout == "http://fleet.example/cache\n/srv/dkms-fleet\n")
        #expect(result.stderr.isEmpty)
    }

    @Test func aDropInCountsAsFrameworkConfDoes() {
        Files.write("build_cache_shared=/srv/dkms-fleet\n", to: sandbox.etc + "/framework.conf.d/fleet.conf")
        let result = sandbox.dkms(["cache", "locations"])
        #expect(result.status == 0, "\(result.combined)")
        #expect(result.stdout == "/srv/dkms-fleet\n")
    }

    /// With the module cache off nothing is fetched, so a kernel without
    /// headers must still be skipped.
    @Test func buildCacheNoHidesTheLocations() {
        Files.write("build_cache_shared=\"/srv/dkms-fleet\"\nbuild_cache=\"no\"\n", to: sandbox.etc + "/framework.conf")
        let result = sandbox.dkms(["cache", "locations"])
        #expect(result.status == 1, "\(result.combined)")
        #expect(result.stdout.isEmpty)
    }

    @Test func anEmptyValueIsNoLocation() {
        Files.write("build_cache_shared=\"  \"\n", to: sandbox.etc + "/framework.conf")
        let result = sandbox.dkms(["cache", "locations"])
        #expect(result.status == 1, "\(result.combined)")
        #expect(result.stdout.isEmpty)
    }

    @Test func extraArgumentsAreAUsageError() {
        Files.write("build_cache_shared=/srv/dkms-fleet\n", to: sandbox.etc + "/framework.conf")
        let result = sandbox.dkms(["cache", "locations", "extra"])
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("Usage: dkms cache list | stats | locations |"), "\(result.stderr)")
    }
}
