#if canImport(Glibc)
import Glibc
#endif

/// The process's open-file limit.
public enum OpenFiles {
    /// Raises the soft limit on open files to the hard one (often 1,024 against 1,048,576): every
    /// open live-update stream holds a connection, in the gateway and in the load generator.
    public static func raiseLimit() {
        #if canImport(Glibc)
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        #endif
    }
}
