/// The gateway's judgement of one CONNECT (or connect-udp) request, shared by
/// the HTTP/1.1 path and HTTP/2 streams so both answer alike: forced status,
/// token check, target syntax, destination policy, in that order.
enum ConnectAdmission: Equatable {
    case dial(ConnectTarget)
    /// `location`: the sign-in redirect's Location, for a 302.
    case refuse(status: Int, reason: String, location: String?, why: String)

    /// `target`: the request's `host:port` (CONNECT authority, or the
    /// connect-udp path's); `token`: the Pomerium token it carried, if any.
    static func judge(target: String, token: String?, isUDP: Bool, options: GatewayOptions) -> ConnectAdmission {
        if let forced = options.forcedStatus {
            return .refuse(status: forced, reason: "Forced", location: nil, why: "--answer-status")
        }
        if let verify = options.verifyToken {
            guard let token else {
                return .refuse(status: 302, reason: "Found", location: "/.pomerium/sign_in", why: "no token")
            }
            if case .invalid(let reason) = verify(token) {
                return .refuse(status: 401, reason: "Unauthorized", location: nil, why: "token rejected: \(reason)")
            }
        }
        guard let destination = ConnectTarget(target) else {
            return .refuse(status: 400, reason: "Bad Request", location: nil,
                           why: "invalid \(isUDP ? "connect-udp" : "CONNECT") target")
        }
        guard options.destinations.allows(destination) else {
            return .refuse(status: 403, reason: "Forbidden", location: nil, why: "destination \(destination) not allowed")
        }
        return .dial(destination)
    }
}
