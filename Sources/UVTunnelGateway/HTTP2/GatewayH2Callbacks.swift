import CShims
import UVTunnel

/// nghttp2's C callbacks for the gateway's server sessions, each a thin
/// trampoline from the session's user data (a `GatewayH2Session.CallbackContext`)
/// to `GatewayH2Session`. They run only inside `nghttp2_session_mem_recv` /
/// `mem_send`, called by the session itself, and only record what happened:
/// the pointers they get do not outlive the call.
enum GatewayH2Callbacks {
    /// A server session with manual window updates (a stream's window opens
    /// only as its target takes the bytes); nil when out of memory.
    static func makeServerSession(userData: UnsafeMutableRawPointer) -> OpaquePointer? {
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else { return nil }
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, userData in
            guard let frame, let session = h2Session(userData) else { return 0 }
            if frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue), frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST {
                session.requestBegan(frame.pointee.hd.stream_id)
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, userData in
            guard let frame, let name, let value, let session = h2Session(userData),
                  frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue), frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST,
                  let stream = session.stream(frame.pointee.hd.stream_id) else { return 0 }
            stream.header(String(decoding: UnsafeBufferPointer(start: name, count: nameLength), as: UTF8.self),
                          String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self))
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, userData in
            guard let frame, let session = h2Session(userData) else { return 0 }
            let header = frame.pointee.hd
            guard let stream = session.stream(header.stream_id) else { return 0 }
            let endStream = header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
            switch UInt32(header.type) {
            case NGHTTP2_HEADERS.rawValue:
                if frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST { stream.requestComplete() }
                if endStream { stream.remoteEnded() }
            case NGHTTP2_DATA.rawValue:
                if endStream { stream.remoteEnded() }
            default:
                break
            }
            session.touch(stream)
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, streamID, data, length, userData in
            guard let session = h2Session(userData) else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
            session.dataArrived(UnsafeRawBufferPointer(start: data, count: length), on: streamID)
            return 0
        }
        H2DataCallbacks.install(on: callbacks)
        return H2DataCallbacks.makeSession(callbacks: callbacks, userData: userData) { nghttp2_session_server_new2($0, $1, $2, $3) }
    }

    /// Submits a response with these header fields and, with `body`, the
    /// stream's DATA source; without, HEADERS carries END_STREAM. Returns 0
    /// or a negative nghttp2 error.
    static func submitResponse(_ raw: OpaquePointer, streamID: Int32, status: Int, headers: [(String, String)], body: Bool) -> Int32 {
        let all = [(":status", String(status), false)] + headers.map { ($0.0, $0.1, false) }
        var provider = H2DataCallbacks.dataProvider
        return H2HeaderFields.with(all) { fields in
            body ? nghttp2_submit_response(raw, streamID, fields, fields.count, &provider)
                 : nghttp2_submit_response(raw, streamID, fields, fields.count, nil)
        }
    }
}

/// The session behind nghttp2's user data (file scope: a C callback cannot capture).
private func h2Session(_ userData: UnsafeMutableRawPointer?) -> GatewayH2Session? {
    guard let userData else { return nil }
    return Unmanaged<GatewayH2Session.CallbackContext>.fromOpaque(userData).takeUnretainedValue().session
}
