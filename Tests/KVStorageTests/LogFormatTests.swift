// The shared log format: records of every size round-trip, a torn tail ends the log, a flipped
// byte is corruption naming the file and offset.

import KVCore
import KVStorage
import Testing

@Suite("KVStorage log format")
struct LogFormatTests {
    /// Records of sizes chosen to hit empty payloads, block trailers and multi-block records.
    static let sizes = [0, 1, 100, LogFormat.blockSize - 2 * LogFormat.headerSize - 100, 3, 4,
                        LogFormat.blockSize * 2 + 17, 1000, LogFormat.blockSize - LogFormat.headerSize, 5]

    static func record(_ i: Int, size: Int) -> [UInt8] { (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) } }

    static func writeLog(_ fs: FaultInjectingFileSystem, path: String) throws -> [UInt8] {
        let writer = LogWriter(file: try fs.open(path, mode: .truncate), bufferLimit: 1000)
        for (i, size) in sizes.enumerated() { try writer.append(record(i, size: size)) }
        try writer.sync()
        return fs.contents(of: path)!
    }

    @Test("records of every size round-trip, including empty ones, trailers and multi-block records")
    func roundTrip() throws {
        let fs = FaultInjectingFileSystem()
        try fs.createDirectory("/l")
        let bytes = try Self.writeLog(fs, path: "/l/log")
        var reader = try LogReader(file: try fs.open("/l/log", mode: .readOnly))
        for (i, size) in Self.sizes.enumerated() {
            #expect(try reader.next() == Self.record(i, size: size), "record \(i)")
        }
        #expect(try reader.next() == nil)
        #expect(reader.tornTail == nil)
        #expect(reader.lastGoodOffset == Int64(bytes.count))
    }

    @Test("a log cut at any length reads as its complete records, and the torn tail is reported, not thrown")
    func tornTail() throws {
        let fs = FaultInjectingFileSystem()
        try fs.createDirectory("/l")
        let bytes = try Self.writeLog(fs, path: "/l/log")
        // Record end offsets, to know how many records a prefix holds.
        var ends: [Int64] = []
        var full = try LogReader(file: try fs.open("/l/log", mode: .readOnly))
        while try full.next() != nil { ends.append(full.lastGoodOffset) }
        var cut = 0
        while cut <= bytes.count {
            fs.setContents(of: "/l/log", Array(bytes[0..<cut]))
            var reader = try LogReader(file: try fs.open("/l/log", mode: .readOnly), checksumFailureAtEndIsTorn: true)
            var n = 0
            while let r = try reader.next() {
                #expect(r == Self.record(n, size: Self.sizes[n]))
                n += 1
            }
            let expected = ends.filter { $0 <= Int64(cut) }.count
            #expect(n == expected, "cut at \(cut)")
            #expect(reader.lastGoodOffset == (expected == 0 ? 0 : ends[expected - 1]))
            cut += cut < 200 ? 1 : 997
        }
    }

    @Test("a flipped byte before the last record is corruption naming the file and the fragment offset")
    func flippedByte() throws {
        let fs = FaultInjectingFileSystem()
        try fs.createDirectory("/l")
        let bytes = try Self.writeLog(fs, path: "/l/log")
        var ends: [Int64] = [0]
        var full = try LogReader(file: try fs.open("/l/log", mode: .readOnly))
        while try full.next() != nil { ends.append(full.lastGoodOffset) }
        let lastRecordStart = Int(ends[ends.count - 2])
        var offset = 0
        var corruptions = 0
        while offset < lastRecordStart {
            var damaged = bytes
            damaged[offset] ^= 0x41
            fs.setContents(of: "/l/log", damaged)
            var reader = try LogReader(file: try fs.open("/l/log", mode: .readOnly))
            do {
                var n = 0
                while let r = try reader.next() {
                    #expect(r == Self.record(n, size: Self.sizes[n]), "flip at \(offset) returned a wrong record \(n)")
                    n += 1
                }
                // Only flips inside a trailer's zero padding go unnoticed.
                #expect(n == Self.sizes.count, "flip at \(offset): \(n) records and no error")
            } catch {
                guard case let .corruption(path, at, _) = error else { Issue.record("flip at \(offset): \(error)"); break }
                #expect(path == "/l/log")
                #expect(at <= Int64(offset) && Int64(offset) - at < Int64(LogFormat.blockSize))
                corruptions += 1
            }
            offset += offset < 300 ? 1 : 331
        }
        #expect(corruptions > 0)
    }
}
