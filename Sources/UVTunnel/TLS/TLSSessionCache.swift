import CShims
import Foundation

/// Remembers the latest resumable TLS session per server name, so a new
/// tunnel to the same gateway resumes instead of doing a full handshake
/// (no certificate chain to send and verify, no signature): tunnels per
/// second go up and CPU per tunnel goes down.
///
/// Filled by OpenSSL's new-session callback (TLS 1.3 tickets arrive after
/// the handshake) and read when a session starts; both the tunnel loop and
/// the sign-in thread use one context, hence the lock.
final class TLSSessionCache: @unchecked Sendable {
    private let lock = NSLock()
    private var sessions: [String: OpaquePointer] = [:]  // SSL_SESSION*, one reference each
    /// Names whose full handshake brought no ticket: a burst to them does not
    /// wait for one (SessionTicketWait). Forgotten when a ticket comes.
    private var ticketless: Set<String> = []
    private static let maxNames = 64

    /// Installs the callback on a client context whose app data is this cache.
    func attach(to ctx: OpaquePointer) {
        _ = cshim_SSL_CTX_set_app_data(ctx, Unmanaged.passUnretained(self).toOpaque())
        _ = cshim_SSL_CTX_set_session_cache_mode(ctx, cshim_SSL_SESS_CACHE_CLIENT_ONLY())
        SSL_CTX_sess_set_new_cb(ctx) { ssl, session in
            // The SSL's app data is its TLSSession (set in TLSSession.init), which
            // knows the server name even for IP literals that carry no SNI.
            guard let ssl, let session, let ctx = SSL_get_SSL_CTX(ssl),
                  let raw = cshim_SSL_CTX_get_app_data(ctx), let owner = SSL_get_ex_data(ssl, 0) else { return 0 }
            let cache = Unmanaged<TLSSessionCache>.fromOpaque(raw).takeUnretainedValue()
            let name = Unmanaged<TLSSession>.fromOpaque(owner).takeUnretainedValue().serverName
            // A copy: OpenSSL marks the connection's own session unresumable when
            // that connection ends without close_notify, which a tunnel closed by
            // a reset does; the ticket itself stays good for the next tunnel.
            guard let copy = SSL_SESSION_dup(session) else { return 0 }
            cache.store(copy, for: name)
            Unmanaged<TLSSession>.fromOpaque(owner).takeUnretainedValue().reportTicket(.ticket)
            return 0  // OpenSSL keeps (and frees) its own reference
        }
    }

    private func store(_ session: OpaquePointer, for name: String) {
        lock.withLock {
            if let old = sessions[name] { SSL_SESSION_free(old) }
            if sessions[name] == nil && sessions.count >= Self.maxNames, let evicted = sessions.first {
                SSL_SESSION_free(evicted.value)
                sessions[evicted.key] = nil
            }
            sessions[name] = session
            ticketless.remove(name)
        }
    }

    /// True when a new connection to `name` would do a full handshake that a
    /// ticket could spare: nothing resumable is cached and `name` has not
    /// shown that it issues no tickets.
    func lacksTicket(for name: String) -> Bool {
        lock.withLock {
            guard !ticketless.contains(name) else { return false }
            guard let session = sessions[name] else { return true }
            return SSL_SESSION_is_resumable(session) != 1
        }
    }

    /// A full handshake to `name` finished and no ticket followed.
    func noteNoTicket(from name: String) {
        lock.withLock {
            if sessions[name] == nil, ticketless.count < Self.maxNames { ticketless.insert(name) }
        }
    }

    /// Offers the remembered session for `name` to a new `SSL` (which takes
    /// its own reference).
    func offer(to ssl: OpaquePointer, name: String) {
        lock.withLock {
            if let session = sessions[name], SSL_SESSION_is_resumable(session) == 1 {
                _ = SSL_set_session(ssl, session)
            }
        }
    }

    deinit {
        for session in sessions.values { SSL_SESSION_free(session) }
    }
}
