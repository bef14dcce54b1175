#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 network in CIDR notation, for `--allow-from`:
/// `10.0.0.0/8`, `192.168.1.7` (one address), `fd00::/8`, `::1`.
///
/// Strict on purpose, since it guards who may ride on the user's sign-in: a
/// network with host bits set (`192.168.1.10/24`) is refused with the network
/// it probably meant, rather than silently widened or narrowed.
public struct AddressRange: Sendable, Equatable, CustomStringConvertible {
    /// The network address: 4 bytes (IPv4) or 16 (IPv6), host bits zero.
    public let network: [UInt8]
    public let prefixLength: Int

    public static func parse(_ text: String) throws(AddressError) -> AddressRange {
        let trimmed = Self.trimmed(text)
        let parts = trimmed.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let hint = "use an address or network such as 10.0.0.0/8, 192.168.1.7 or fd00::/8"
        guard let bytes = IPBytes.parse(String(parts[0])) else {
            throw AddressError(message: "\"\(trimmed)\" is not an IP address or network; \(hint)")
        }
        let maximum = bytes.count * 8
        var prefix = maximum
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let length = Int(digits), (0...maximum).contains(length) else {
                throw AddressError(message: "\"\(trimmed)\": the prefix length must be 0-\(maximum); \(hint)")
            }
            prefix = length
        }
        let network = Self.masked(bytes, prefix)
        guard network == bytes else {
            let meant = AddressRange(network: network, prefixLength: prefix)
            throw AddressError(message: "\"\(trimmed)\" has bits set after the first \(prefix); did you mean \(meant)?")
        }
        return AddressRange(network: network, prefixLength: prefix)
    }

    /// `CIDR[,CIDR…]`, spaces allowed around the commas.
    public static func parseList(_ text: String) throws(AddressError) -> [AddressRange] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        var ranges: [AddressRange] = []
        for item in items {
            guard !trimmed(String(item)).isEmpty else {
                throw AddressError(message: "empty entry in \"\(text)\"; separate networks with single commas")
            }
            ranges.append(try parse(String(item)))
        }
        return ranges
    }

    /// Is `address` inside? An IPv4 client seen through a dual-stack IPv6
    /// listener (`::ffff:a.b.c.d`) is matched as the IPv4 address it is.
    public func contains(_ address: SocketAddress) -> Bool {
        var bytes = address.ipBytes
        if network.count == 4, bytes.count == 16, bytes.prefix(12).elementsEqual(Self.mappedPrefix) {
            bytes = Array(bytes.suffix(4))
        }
        return IPBytes.matches(bytes, network: network, prefix: prefixLength)
    }

    public var description: String {
        let text = network.count == 4 ? network.map(String.init).joined(separator: ".") : Self.ipv6Text(network)
        return "\(text)/\(prefixLength)"
    }

    // MARK: - Helpers

    private static func trimmed(_ text: String) -> String {
        String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }

    private static let mappedPrefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]

    private static func masked(_ bytes: [UInt8], _ prefix: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bits = min(8, max(0, prefix - index * 8))
            return bits == 0 ? 0 : byte & UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
        }
    }

    private static func ipv6Text(_ bytes: [UInt8]) -> String {
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        _ = inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
        return String(nulTerminated: text)
    }
}

extension SocketAddress {
    /// The address without the port, as 4 (IPv4) or 16 (IPv6) bytes in network order.
    var ipBytes: [UInt8] {
        withSockAddr { raw in
            if isIPv6 {
                return raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                    withUnsafeBytes(of: pointer.pointee.sin6_addr) { Array($0) }
                }
            }
            return raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                withUnsafeBytes(of: pointer.pointee.sin_addr) { Array($0) }
            }
        }
    }
}
