// DEBUG DISKFAULT: switching a `kvlab serve --disk-faults` server's injected disk fault at run time.

import RESP

/// The server's handle on its engine's switchable disk faults (KVServer does not know the file
/// system; `kvlab serve` supplies the two closures).
public struct ServerDiskFaults: Sendable {
    /// The mode in force, by its wire name (none, fsync-error, disk-full).
    public let current: @Sendable () -> String
    /// Sets the mode named; returns false for an unknown name.
    public let set: @Sendable (String) -> Bool

    public init(current: @escaping @Sendable () -> String, set: @escaping @Sendable (String) -> Bool) {
        self.current = current
        self.set = set
    }
}

extension CommandExecutor {
    static let debugCommands: [CommandSpec] = [
        // Lock-free: switching the fault must not wait behind a write blocked on the disk.
        CommandSpec(name: "debug", arity: -2, flags: ["admin"], firstKey: 0, lastKey: 0, step: 0, lockFree: true) {
            $0.debug($1, &$2, &$3)
        },
    ]

    func debug(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        guard command.string(1).lowercased() == "diskfault" else {
            reply.error("ERR DEBUG subcommand '\(command.string(1))' is not supported by kvlab; only DEBUG DISKFAULT none|fsync-error|disk-full")
            return
        }
        guard let faults = configuration.diskFaults else {
            reply.error("ERR DEBUG DISKFAULT needs a server started with --disk-faults")
            return
        }
        guard command.count == 3 else {
            reply.error("ERR wrong number of arguments for 'debug diskfault': expected none, fsync-error or disk-full")
            return
        }
        let name = command.string(2)
        if faults.set(name) { reply.ok() } else {
            reply.error("ERR DEBUG DISKFAULT '\(name)': expected none, fsync-error or disk-full")
        }
    }
}
