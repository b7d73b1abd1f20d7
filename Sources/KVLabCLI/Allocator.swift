// Which malloc the kvlab executable runs on. With the default trait `Jemalloc`, jemalloc is
// linked (as Redis links it); build with `--disable-default-traits` for the C library's malloc.

#if Jemalloc
import CJemalloc

enum LinkedAllocator {
    /// Referencing a jemalloc symbol keeps the library linked even under --as-needed.
    static let mallctlFunction: @convention(c) (UnsafePointer<CChar>?, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>?, UnsafeMutableRawPointer?, Int) -> Int32 = mallctl
    static let name = "jemalloc (linked)"
}
#else
enum LinkedAllocator {
    static let name = "libc malloc"
}
#endif
