import CShims

/// An IPv4 or IPv6 address with port, stored by value. Parsing accepts what
/// users type for `--listen`: `127.0.0.1:3389`, `:3389` (all interfaces),
/// `[::1]:3389`, `localhost:3389`.
public struct SocketAddress: Sendable, Equatable, CustomStringConvertible {
    private var storage = sockaddr_storage()

    public init(ip: String, port: UInt16) throws(AddressError) {
        let status: Int32
        // The bytes, not String.contains: with Foundation in the process that
        // is NSString's range(of:), ~4,500 instructions, on every connect.
        if ip.utf8.contains(UInt8(ascii: ":")) {
            status = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { uv_ip6_addr(ip, Int32(port), $0) }
            }
        } else {
            status = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { uv_ip4_addr(ip, Int32(port), $0) }
            }
        }
        guard status == 0 else { throw AddressError(message: "\"\(ip)\" is not an IP address") }
    }

    /// Copies a `sockaddr` that libuv or the kernel filled in.
    init?(copying address: UnsafePointer<sockaddr>) {
        let family = Int32(address.pointee.sa_family)
        let size: Int
        switch family {
        case AF_INET: size = MemoryLayout<sockaddr_in>.size
        case AF_INET6: size = MemoryLayout<sockaddr_in6>.size
        default: return nil
        }
        withUnsafeMutableBytes(of: &storage) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(start: address, count: size))
        }
    }

    public var family: Int32 { Int32(storage.ss_family) }
    public var isIPv6: Bool { family == AF_INET6 }

    public var port: UInt16 {
        withUnsafePointer(to: storage) { raw in
            if isIPv6 {
                return raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
            return raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
    }

    /// The address without the port, e.g. `127.0.0.1` or `::1`.
    public var ip: String {
        var text = [CChar](repeating: 0, count: 64)
        withUnsafePointer(to: storage) { raw in
            raw.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = uv_ip_name($0, &text, text.count) }
        }
        return String(nulTerminated: text)
    }

    public var isLoopback: Bool {
        if isIPv6 { return ip == "::1" || ip.hasPrefix("::ffff:127.") }
        return ip.hasPrefix("127.")
    }

    /// The same address with another port (the port a `:0` sibling was given).
    public func withPort(_ port: UInt16) -> SocketAddress {
        var copy = self
        withUnsafeMutablePointer(to: &copy.storage) { raw in
            if isIPv6 {
                raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port = port.bigEndian }
            } else {
                raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port = port.bigEndian }
            }
        }
        return copy
    }

    /// `127.0.0.1:80` or `[::1]:80`.
    public var description: String { isIPv6 ? "[\(ip)]:\(port)" : "\(ip):\(port)" }

    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>) -> R) -> R {
        withUnsafePointer(to: storage) { raw in
            raw.withMemoryRebound(to: sockaddr.self, capacity: 1, body)
        }
    }

    public static func == (a: SocketAddress, b: SocketAddress) -> Bool { a.description == b.description }

    /// Parses a listen address: `HOST:PORT`, `:PORT` (all interfaces), `[V6]:PORT`;
    /// `localhost` means 127.0.0.1.
    public static func parseListen(_ text: String) throws(AddressError) -> SocketAddress {
        let hint = "use HOST:PORT, e.g. 127.0.0.1:3389, :3389 or [::1]:3389"
        guard let colon = text.lastIndex(of: ":") else {
            throw AddressError(message: "invalid listen address \"\(text)\": missing port; \(hint)")
        }
        var host = String(text[..<colon])
        let portText = text[text.index(after: colon)...]
        guard let port = UInt16(portText) else {
            throw AddressError(message: "invalid listen address \"\(text)\": port must be 0-65535; \(hint)")
        }
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
        } else if host.utf8.contains(UInt8(ascii: ":")) {
            throw AddressError(message: "invalid listen address \"\(text)\": put IPv6 addresses in brackets; \(hint)")
        }
        if host.isEmpty { host = "0.0.0.0" }
        if host == "localhost" { host = "127.0.0.1" }
        do {
            return try SocketAddress(ip: host, port: port)
        } catch {
            throw AddressError(message: "invalid listen address \"\(text)\": \"\(host)\" is not an IP address; \(hint)")
        }
    }
}

public struct AddressError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }

    package init(message: String) { self.message = message }
}
