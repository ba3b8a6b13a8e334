/// Carries a `sending` result out of a closure whose result type is not `sending`
/// (`withTaskExecutorPreference`'s), so that `withConnection` can return it as `sending` again.
@usableFromInline
// Unchecked Sendable, safe because: the value comes from a `sending` result, so nothing else refers to it, and
// it is taken out exactly once, by the one caller the box is returned to.
struct SendingBox<Value>: @unchecked Sendable {
    @usableFromInline var value: Value

    @inlinable
    init(_ value: consuming sending Value) {
        self.value = value
    }

    @inlinable
    consuming func take() -> sending Value {
        value
    }
}
