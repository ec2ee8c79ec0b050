import DKMSCLI
import DKMSCore

#if canImport(Glibc)
import Glibc
#endif

let status = await DHDKMSCommand.main(
    arguments: Array(CommandLine.arguments.dropFirst()),
    environment: ProcessEnvironment.current,
    directory: ".")
exit(status)
