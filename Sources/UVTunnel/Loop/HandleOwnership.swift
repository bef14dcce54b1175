import CShims

/// The one ownership rule for libuv handles, in one place: the Swift object
/// that owns a handle retains itself in the handle's `data` when the handle
/// is initialised, and libuv's close callback (which libuv always delivers,
/// one loop turn after `uv_close`) frees the handle's memory and drops that
/// retain. So an owner outlives every callback its handle can make, and a
/// handle is freed exactly once, however its owner is dropped.
enum HandleOwnership {
    /// Right after `uv_*_init` succeeded.
    static func retain(_ owner: AnyObject, in handle: UnsafeMutableRawPointer) {
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
}
