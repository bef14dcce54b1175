/// Upper-case base36 of a big-endian byte string, exactly as
/// github.com/martinlindhe/base36 `EncodeBytes` produces it, because
/// pomerium-cli names its token cache files with that function: the bytes are
/// read as one unsigned big-endian number written in digits 0-9A-Z, with one
/// extra "0" in front for every leading zero byte (so [0,0,1] is "001", not "1").
enum Base36 {
    private static let digits = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var number = Array(bytes.drop { $0 == 0 })
        let leadingZeroBytes = bytes.count - number.count
        var reversedDigits: [UInt8] = []
        // Schoolbook long division of the whole number by 36, once per digit.
        while !number.isEmpty {
            var remainder: UInt32 = 0
            var quotient: [UInt8] = []
            quotient.reserveCapacity(number.count)
            for byte in number {
                let accumulator = remainder << 8 | UInt32(byte)
                let digit = accumulator / 36
                remainder = accumulator % 36
                if !quotient.isEmpty || digit != 0 { quotient.append(UInt8(digit)) }
            }
            reversedDigits.append(digits[Int(remainder)])
            number = quotient
        }
        return String(repeating: "0", count: leadingZeroBytes) + String(decoding: reversedDigits.reversed(), as: UTF8.self)
    }
}
