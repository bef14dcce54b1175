/// What `SignInCoordinator` needs of the sign-in thread: somewhere to send its
/// commands (results come back through `SignInCoordinator.handle`). The CLI's
/// runner is `SignInWorker`; unit tests put a fake in its place to drive the
/// coordinator state by state without a thread or a browser.
protocol SignInRunner: AnyObject {
    func send(_ command: SignInWorker.Command)
}

extension SignInWorker: SignInRunner {}
