import CShims

/// The one ownership rule for libuv handles, in one place: the Swift object
/// that owns a handle retains itself in the handle's `data` once the handle
/// is initialised, and libuv's close callback (which libuv always delivers,
/// one loop turn after `uv_close`) frees the handle's memory and drops that
/// retain. So an owner outlives every callback its handle can make, and a
/// handle is freed exactly once, however its owner is dropped.
///
/// Owners allocate the handle's memory themselves and hand it here at once:
/// from then on only this file frees it.
enum HandleOwnership {
    /// Runs one `uv_*_init` (`make` gets the handle's memory) and, when it
    /// succeeds, makes `owner` the handle's owner.
    ///
    /// When it fails there is no handle to close, and closing it anyway breaks
    /// the loop: `uv_signal_init` and `uv_async_init` fail before linking the
    /// handle into the loop's handle queue, and `uv_tcp_init_ex` with an
    /// address family links it, fails to make the socket (EMFILE) and unlinks
    /// it again (src/unix/tcp.c), so a `uv_close` would unlink it a second time
    /// and cut the handles initialised since out of the queue. So a failed
    /// init frees the memory here, never calls `uv_close`, and throws an error
    /// naming `what` was being made.
    static func initialize<Handle>(_ owner: AnyObject, _ handle: UnsafeMutablePointer<Handle>,
                                   what: @autoclosure () -> String,
                                   _ make: (UnsafeMutablePointer<Handle>) -> Int32) throws(UVError) {
        try initialize(owner, raw: UnsafeMutableRawPointer(handle), what: what()) { make(handle) }
    }

    /// The same for a handle whose memory is untyped (UVStream sizes it by kind).
    static func initialize(_ owner: AnyObject, raw handle: UnsafeMutableRawPointer,
                           what: @autoclosure () -> String,
                           _ make: () -> Int32) throws(UVError) {
        let status = make()
        guard status >= 0 else {
            handle.deallocate()
            throw UVError(status, what())
        }
        retain(owner, in: handle)
    }

    /// For an init libuv documents as unable to fail (`uv_timer_init` only
    /// links the handle): a failure is a broken libuv, so it traps.
    static func initializeInfallible<Handle>(_ owner: AnyObject, _ handle: UnsafeMutablePointer<Handle>,
                                             what: StaticString,
                                             _ make: (UnsafeMutablePointer<Handle>) -> Int32) {
        do throws(UVError) {
            try initialize(owner, handle, what: "\(what)", make)
        } catch {
            preconditionFailure("\(error): libuv's \(what) cannot fail")
        }
    }

    /// `uv_spawn` is the one start call that links its handle into the loop
    /// whether or not it succeeds (libuv's test-spawn.c closes the handle
    /// after a failed spawn): the owner is made owner either way, and a
    /// failure closes the handle through the one close path, then throws.
    static func initializeClosingOnFailure<Handle>(_ owner: AnyObject, _ handle: UnsafeMutablePointer<Handle>,
                                                   what: @autoclosure () -> String,
                                                   _ make: (UnsafeMutablePointer<Handle>) -> Int32) throws(UVError) {
        let status = make(handle)
        retain(owner, in: UnsafeMutableRawPointer(handle))
        guard status >= 0 else {
            close(UnsafeMutableRawPointer(handle))
            throw UVError(status, what())
        }
    }

    private static func retain(_ owner: AnyObject, in handle: UnsafeMutableRawPointer) {
        cshim_as_handle(handle).pointee.data = Unmanaged.passRetained(owner).toOpaque()
    }

    /// The owner's close path; call once (owners guard with their own flag).
    static func close(_ handle: UnsafeMutableRawPointer) {
        uv_close(cshim_as_handle(handle)) { raw in
            let owner = Unmanaged<AnyObject>.fromOpaque(raw!.pointee.data)
            UnsafeMutableRawPointer(raw!).deallocate()
            owner.release()
        }
    }

    /// The same for an owner that conforms to `HandleCloseObserver` and must act once its handle is gone (a stream
    /// gives back the buffer it lent and tells its user): `handleDidClose`
    /// runs after the memory is freed, while the owner is still retained.
    static func closeNotifyingOwner(_ handle: UnsafeMutableRawPointer) {
        uv_close(cshim_as_handle(handle)) { raw in
            let owner = Unmanaged<AnyObject>.fromOpaque(raw!.pointee.data)
            UnsafeMutableRawPointer(raw!).deallocate()
            (owner.takeUnretainedValue() as! HandleCloseObserver).handleDidClose()
            owner.release()
        }
    }
}

/// An owner told when libuv has closed its handle (its very last callback).
protocol HandleCloseObserver: AnyObject {
    func handleDidClose()
}
