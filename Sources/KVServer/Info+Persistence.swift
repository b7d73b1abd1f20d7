// INFO's `persistence` section: Redis's field names where kvlab can fill them truthfully.

extension CommandExecutor {
    /// The `# Persistence` lines.
    ///
    /// Redis fields kept: `loading` (0: the server listens only after the engine recovered),
    /// `async_loading`, `aof_enabled` (1 when the engine keeps its data in files: its log or
    /// pages play the AOF's part), `aof_rewrite_in_progress`, `aof_rewrite_scheduled`,
    /// `aof_last_rewrite_time_sec` (-1: kvlab has no rewrite; the engine compacts on its own),
    /// `aof_last_bgrewrite_status`, `aof_rewrites`, `aof_last_write_status` (err after a failed
    /// fsync barrier or engine error), `rdb_bgsave_in_progress` and `rdb_saves` (kvlab has no
    /// snapshots). Left out: sizes, copy-on-write figures, `rdb_changes_since_last_save`,
    /// `aof_delayed_fsync` (the engines do not report them).
    /// kvlab's own: `kvlab_appendfsync` (Redis's CONFIG GET appendfsync), `kvlab_durability`
    /// (the engine policy), `kvlab_fsync_before_reply`, and the barrier counters that show how
    /// many write commands each fsync covered.
    func persistenceInfoLines() -> [String] {
        let p = persistence
        let enabled = p.durability != nil
        var lines = ["# Persistence", "loading:0", "async_loading:0",
                     "rdb_bgsave_in_progress:0", "rdb_saves:0",
                     "aof_enabled:\(enabled ? 1 : 0)", "aof_rewrite_in_progress:0", "aof_rewrite_scheduled:0",
                     "aof_last_rewrite_time_sec:-1", "aof_rewrites:0", "aof_last_bgrewrite_status:ok",
                     "aof_last_write_status:\(p.lastWriteStatus)"]
        if let d = p.durability {
            lines += ["kvlab_appendfsync:\(d.appendfsync?.rawValue ?? "none")",
                      "kvlab_durability:\(d.enginePolicy.name)"]
            if case .periodic(let ms) = d.enginePolicy { lines.append("kvlab_sync_interval_ms:\(ms)") }
            lines += ["kvlab_fsync_before_reply:\(d.fsyncBeforeReply ? 1 : 0)",
                      "kvlab_fsync_barriers:\(p.barriers.load(ordering: .relaxed))",
                      "kvlab_fsync_barrier_write_commands:\(p.barrierWriteCommands.load(ordering: .relaxed))",
                      "kvlab_write_failures:\(p.writeFailures.load(ordering: .relaxed))"]
        }
        if let faults = configuration.diskFaults { lines.append("kvlab_disk_fault:\(faults.current())") }
        return lines
    }
}
