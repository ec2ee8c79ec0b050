import DKMSCLI
import DKMSCore

#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
let status = await DKMSCommand.main(
    programPath: arguments.first ?? "dkms",
    arguments: Array(arguments.dropFirst()),
    environment: ProcessEnvironment.current)
exit(status)
