import CShims

/// Turns a host name into addresses without blocking the loop (libuv runs
/// getaddrinfo on its thread pool). IP literals skip the lookup.
public enum Resolver {
    public typealias Answer = Result<[SocketAddress], UVError>

    /// Returns the pending lookup (to abandon when its owner goes away), or nil
    /// when `completion` already ran (an IP literal, or a refused request).
    @discardableResult
    public static func resolve(_ host: String, port: UInt16, loop: EventLoop,
                               completion: @escaping (Answer) -> Void) -> ResolveRequest? {
        if let literal = try? SocketAddress(ip: host, port: port) {
            completion(.success([literal]))
            return nil
        }
        let request = UVRequest<uv_getaddrinfo_t, Answer>(completion: completion)
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        let status = request.start { uv_getaddrinfo(loop.raw, $0, lookedUp, host, String(port), &hints) }
        if status < 0 {
            request.fail(.failure(UVError(status, "resolve \(host)")))
            return nil
        }
        return ResolveRequest(request: request)
    }

    private static let lookedUp: uv_getaddrinfo_cb = { raw, status, list in
        defer { uv_freeaddrinfo(list) }
        UVRequest<uv_getaddrinfo_t, Answer>.complete(raw!, answer(status, list))
    }

    private static func answer(_ status: Int32, _ list: UnsafeMutablePointer<addrinfo>?) -> Answer {
        if status < 0 { return .failure(UVError(status, "resolve")) }
        var addresses: [SocketAddress] = []
        var node = list
        while let entry = node {
            if let address = entry.pointee.ai_addr.flatMap({ SocketAddress(copying: $0) }), !addresses.contains(address) {
                addresses.append(address)
            }
            node = entry.pointee.ai_next
        }
        // Prefer IPv4 first for loopback-style names that resolve both ways,
        // then try the rest in order (sequential fallback on refusal).
        addresses.sort { !$0.isIPv6 && $1.isIPv6 }
        return addresses.isEmpty ? .failure(UVError(UV_EAI_NONAME.rawValue, "resolve")) : .success(addresses)
    }
}

/// A lookup in flight. Its owner calls `abandon()` when it goes away: the
/// completion then never runs (libuv still calls back, and frees the request).
public struct ResolveRequest {
    fileprivate let request: UVRequest<uv_getaddrinfo_t, Resolver.Answer>

    public func abandon() { request.abandon() }
}
