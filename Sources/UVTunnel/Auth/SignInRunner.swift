/// What `SignInCoordinator` needs of the sign-in thread: somewhere to send its
/// commands (results come back through `SignInCoordinator.handle`). The CLI's
/// runner is `SignInWorker`; unit tests put a fake in its place to drive the
/// coordinator state by state without a thread or a browser.
protocol SignInRunner: AnyObject {
    func send(_ command: SignInWorker.Command)
    /// A sign-in id no other coordinator of this runner has used: one thread
    /// serves every gateway's coordinator, and each sees every result, so ids
    /// counted per coordinator (each from 1) let one gateway take another's
    /// token and replaced one gateway's flow with another's on the thread.
    func newFlightID() -> Int
}

extension SignInWorker: SignInRunner {}
