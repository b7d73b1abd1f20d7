// YCSB key names: hashed and ordered, with zero padding.

import Testing
@testable import Workload

@Suite("Key naming")
struct KeyNamingTests {
    @Test("hashed keys match YCSB's test vectors")
    func hashedVectors() {
        let namer = KeyNamer(hashed: true, zeroPadding: 1)
        #expect(namer.name(0) == "user6284781860667377211")
        #expect(namer.name(1) == "user8517097267634966620")
        #expect(namer.name(2) == "user1820151046732198393")
    }

    @Test("ordered keys use the number itself, zero-padded to zeropadding digits")
    func orderedPadding() {
        #expect(KeyNamer(hashed: false, zeroPadding: 1).name(42) == "user42")
        #expect(KeyNamer(hashed: false, zeroPadding: 8).name(42) == "user00000042")
        #expect(KeyNamer(hashed: false, zeroPadding: 2).name(12345) == "user12345")
        #expect(KeyNamer(hashed: true, zeroPadding: 25).name(0) == "user0000006284781860667377211")
        #expect(KeyNamer(hashed: false, zeroPadding: 1).name(0) == "user0")
    }

    @Test("the buffer form writes the same bytes as the String form")
    func bufferForm() {
        let namer = KeyNamer(hashed: true, zeroPadding: 1)
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: namer.maximumLength)
        defer { buffer.deallocate() }
        for k in [Int64(0), 7, 1 << 40, Int64.max] {
            let n = namer.write(k, to: buffer)
            #expect(String(decoding: UnsafeBufferPointer(start: buffer, count: n), as: UTF8.self) == "user" + String(fnvHash64(k)))
        }
    }
}
