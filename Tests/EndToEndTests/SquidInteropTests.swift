import Foundation
import XCTest

/// uvtunnel against a third-party CONNECT gateway: Debian's squid with a TLS
/// listener and an ACL on the exact `Authorization: Pomerium <token>` header.
/// `.ci/run` installs squid-openssl; a missing squid fails this test.
final class SquidInteropTests: XCTestCase {
    private static let token = "interop.test-token.signature"

    func testTunnelThroughSquidIsByteExactAndAWrongTokenIsRefused() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: SquidProcess.executable), "install squid-openssl (see .ci/run)")
        let target = try TargetServer(.echo)
        // Borrow the bundled gateway's generated certificate for squid's https_port.
        let certificates = try GatewayFixture()
        certificates.process.stop()
        let squid = try SquidFixture(certificate: certificates.state.path + "/tls-cert.pem",
                                     key: certificates.state.path + "/tls-key.pem", token: Self.token)
        defer { squid.stop() }

        let good = try TunnelFixture(["--pomerium-url", "https://127.0.0.1:\(squid.port)", "--alternate-ca-path", certificates.caPath,
                                      "--service-account", Self.token, "127.0.0.1:\(target.port)"])
        let socket = try TestSocket.connect(port: good.port, timeout: 30)
        let payload = randomBytes(4 << 20)
        Thread { try? socket.send(payload) }.start()
        let echoed = try socket.receive(exactly: payload.count)
        XCTAssert(echoed == payload, "bytes through squid differ")

        let bad = try TunnelFixture(["--pomerium-url", "https://127.0.0.1:\(squid.port)", "--alternate-ca-path", certificates.caPath,
                                     "--service-account", "wrong.token.value", "127.0.0.1:\(target.port)"])
        let refused = try TestSocket.connect(port: bad.port)
        XCTAssertTrue(refused.waitForClose(timeout: 10))
        bad.process.waitForOutput { $0.contains("403 access denied") }
    }
}

/// squid started on a free loopback port with a throw-away config, stopped by PID.
final class SquidFixture {
    let port: UInt16
    private let directory: String
    private let process: ChildProcess

    init(certificate: String, key: String, token: String) throws {
        directory = NSTemporaryDirectory() + "uvtunnel-squid-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // squid drops to user `proxy`: it must read the key and write logs here.
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: directory)
        let keyCopy = directory + "/key.pem", certCopy = directory + "/cert.pem"
        try FileManager.default.copyItem(atPath: key, toPath: keyCopy)
        try FileManager.default.copyItem(atPath: certificate, toPath: certCopy)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: keyCopy)
        let probe = try TargetServer(.echo)
        port = probe.port
        probe.stop()
        let config = """
        https_port 127.0.0.1:\(port) tls-cert=\(certCopy) tls-key=\(keyCopy)
        \(SquidProcess.commonConfig(directory: directory))
        acl CONNECT method CONNECT
        acl local_dst dst 127.0.0.1
        acl pomerium req_header Authorization ^Pomerium\\ \(token.replacingOccurrences(of: ".", with: "\\."))$
        http_access allow CONNECT local_dst pomerium
        http_access deny all
        """
        process = try SquidProcess.start(config: config, directory: directory, port: port)
    }

    func stop() {
        process.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
