import Foundation
import UVTunnel
import UVTunnelGateway

/// The files in `--state-dir`: created on first use, reused afterwards.
struct GatewayState {
    let directory: String
    var signingKeyPath: String { directory + "/signing-key.pem" }
    var certificatePath: String { directory + "/tls-cert.pem" }
    var privateKeyPath: String { directory + "/tls-key.pem" }

    init(directory: String) throws {
        self.directory = directory
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } else if !isDirectory.boolValue {
            throw GatewayError("--state-dir \(directory) exists and is not a directory")
        }
    }

    func signingKey() throws -> SigningKey {
        if let pem = try? String(contentsOfFile: signingKeyPath, encoding: .utf8) {
            return try SigningKey(pem: pem)
        }
        let key = try SigningKey.generate()
        try write(key.privateKeyPEM, to: signingKeyPath)
        return key
    }

    /// The TLS certificate and key: generated once (self-signed, valid for
    /// localhost, 127.0.0.1 and ::1) unless the user brings their own.
    func certificate() throws -> (certificatePEM: String, privateKeyPEM: String) {
        if let cert = try? String(contentsOfFile: certificatePath, encoding: .utf8),
           let key = try? String(contentsOfFile: privateKeyPath, encoding: .utf8) {
            return (cert, key)
        }
        let made = try CertificateFactory.makeSelfSigned()
        try write(made.privateKeyPEM, to: privateKeyPath)
        try write(made.certificatePEM, to: certificatePath)
        return made
    }

    private func write(_ text: String, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw GatewayError("cannot write \(path)")
        }
    }
}

struct GatewayError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
