// swift-tools-version: 6.2
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "swift-dkms",
    products: [
        .executable(name: "dkms", targets: ["dkms"]),
        .executable(name: "dh_dkms", targets: ["dh_dkms"]),
        .library(name: "DKMSCore", targets: ["DKMSCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2", traits: []),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .target(
            name: "DKMSCore",
            dependencies: [
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "DKMSCLI",
            dependencies: ["DKMSCore"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "dkms",
            dependencies: ["DKMSCLI"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "dh_dkms",
            dependencies: ["DKMSCLI"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "DKMSTestSupport",
            dependencies: ["DKMSCore"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "DKMSCoreTests",
            dependencies: ["DKMSCore", "DKMSTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "DKMSCLITests",
            dependencies: ["DKMSCLI", "DKMSCore", "DKMSTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "DKMSEndToEndTests",
            dependencies: ["DKMSCore", "DKMSTestSupport"],
            swiftSettings: strictSettings
        ),
    ]
)
