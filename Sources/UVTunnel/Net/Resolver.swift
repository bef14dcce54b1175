import CShims

/// Turns a host name into addresses without blocking the loop (libuv runs
/// getaddrinfo on its thread pool). IP literals skip the lookup.
public enum Resolver {
    /// Returns the pending lookup (to cancel when its owner closes), or nil
    /// when `completion` already ran (an IP literal, or a refused request).
    @discardableResult
    public static func resolve(_ host: String, port: UInt16, loop: EventLoop,
                               completion: @escaping (Result<[SocketAddress], UVError>) -> Void) -> ResolveRequest? {
        if let literal = try? SocketAddress(ip: host, port: port) {
            completion(.success([literal]))
            return nil
        }
        let request = ResolveRequest(completion: completion)
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        let status = uv_getaddrinfo(loop.raw, request.raw, ResolveRequest.callback, host, String(port), &hints)
        if status < 0 {
            request.abandon()
            completion(.failure(UVError(status, "resolve \(host)")))
            return nil
        }
        return request
    }
}

/// Owns one `uv_getaddrinfo_t` until its callback, which always comes (with
/// a cancellation after `cancel()`, and then the completion is not called).
public final class ResolveRequest {
    let raw: UnsafeMutablePointer<uv_getaddrinfo_t> = .allocate(capacity: 1)
    private var completion: ((Result<[SocketAddress], UVError>) -> Void)?

    init(completion: @escaping (Result<[SocketAddress], UVError>) -> Void) {
        self.completion = completion
        raw.pointee.data = Unmanaged.passRetained(self).toOpaque()
    }

    deinit { raw.deallocate() }

    /// The owner closed: drop the answer; libuv still calls back (cancelled) and frees.
    public func cancel() {
        guard completion != nil else { return }
        completion = nil
        uv_cancel(UnsafeMutableRawPointer(raw).assumingMemoryBound(to: uv_req_t.self))
    }

    func abandon() {
        completion = nil
        Unmanaged.passUnretained(self).release()
    }

    static let callback: uv_getaddrinfo_cb = { raw, status, list in
        let this = Unmanaged<ResolveRequest>.fromOpaque(raw!.pointee.data).takeRetainedValue()
        defer { uv_freeaddrinfo(list) }
        guard let done = this.completion else { return }
        this.completion = nil
        if status < 0 {
            done(.failure(UVError(status, "resolve")))
            return
        }
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
        done(addresses.isEmpty ? .failure(UVError(UV_EAI_NONAME.rawValue, "resolve")) : .success(addresses))
    }
}
