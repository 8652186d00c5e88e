#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bytes from the kernel's CSPRNG, read 4 KiB at a time into a per-thread buffer.
///
/// `SystemRandomNumberGenerator` makes one system call per 8 bytes, and swift-crypto's nonces go
/// through it too: a token/generate needs about 90 random bytes (response key, five AES-GCM
/// nonces), which was a dozen system calls. Each thread's buffer is only ever touched by code
/// that does not suspend in between, and a byte is handed out once, then forgotten.
///
/// Nothing here can trap: `prepare()` opens the device at start-up (so a process short of
/// descriptors fails to start rather than failing a request), and should the device or the
/// thread-local key ever be unavailable, bytes come from `SystemRandomNumberGenerator`
/// (getrandom(2), which needs no descriptor) instead.
public enum SecureRandom {
    private static let bufferSize = 4_096

    public struct Unavailable: Error, CustomStringConvertible {
        public let description: String
    }

    private final class ThreadBuffer {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: SecureRandom.bufferSize, alignment: 16)
        var offset = SecureRandom.bufferSize

        deinit {
            // Leave no unused randomness behind in freed memory.
            storage.initializeMemory(as: UInt8.self, repeating: 0)
            storage.deallocate()
        }
    }

    /// The buffered source: a thread-local key and an open `/dev/urandom`, or the reason there is none.
    private struct Source: Sendable {
        let key: pthread_key_t
        let descriptor: Int32
    }

    private static let source: Result<Source, Unavailable> = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { pointer in
            guard let pointer else { return }
            Unmanaged<ThreadBuffer>.fromOpaque(pointer).release()
        }
        guard status == 0 else { return .failure(Unavailable(description: "pthread_key_create failed (\(status))")) }
        #if canImport(Glibc)
        let descriptor = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return .failure(Unavailable(description: "cannot open /dev/urandom (errno \(errno))")) }
        #else
        let descriptor: Int32 = -1
        #endif
        return .success(Source(key: key, descriptor: descriptor))
    }()

    /// Opens the kernel source now. Call at start-up: it throws where a later request would
    /// otherwise have to fall back to the slower unbuffered path.
    public static func prepare() throws(Unavailable) {
        _ = try source.get()
    }

    private static func threadBuffer(_ source: Source) -> ThreadBuffer? {
        if let pointer = pthread_getspecific(source.key) {
            return Unmanaged<ThreadBuffer>.fromOpaque(pointer).takeUnretainedValue()
        }
        let buffer = ThreadBuffer()
        let retained = Unmanaged.passRetained(buffer)
        guard pthread_setspecific(source.key, retained.toOpaque()) == 0 else {
            retained.release()
            return nil
        }
        return buffer
    }

    /// Fills `destination` with random bytes.
    public static func fill(_ destination: UnsafeMutableRawBufferPointer) {
        guard case .success(let kernel) = source, destination.count <= bufferSize / 4,
              let buffer = threadBuffer(kernel)
        else {
            readUnbuffered(into: destination)
            return
        }
        if buffer.offset + destination.count > bufferSize {
            guard readKernel(kernel, into: buffer.storage) else {
                readUnbuffered(into: destination)
                return
            }
            buffer.offset = 0
        }
        let taken = UnsafeMutableRawBufferPointer(rebasing: buffer.storage[buffer.offset..<(buffer.offset + destination.count)])
        destination.copyMemory(from: UnsafeRawBufferPointer(taken))
        taken.initializeMemory(as: UInt8.self, repeating: 0)
        buffer.offset += destination.count
    }

    public static func bytes(_ count: Int) -> [UInt8] {
        let count = max(0, count)
        return [UInt8](unsafeUninitializedCapacity: count) { storage, initialized in
            fill(UnsafeMutableRawBufferPointer(storage))
            initialized = count
        }
    }

    /// Large requests, and the fallback: the standard library's generator never fails.
    private static func readUnbuffered(into destination: UnsafeMutableRawBufferPointer) {
        var generator = SystemRandomNumberGenerator()
        var offset = 0
        while offset < destination.count {
            let word = generator.next()
            let count = min(8, destination.count - offset)
            withUnsafeBytes(of: word) { bytes in
                UnsafeMutableRawBufferPointer(rebasing: destination[offset..<(offset + count)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[0..<count]))
            }
            offset += count
        }
    }

    /// Fills the whole of `destination` from the device; false if the device stops answering.
    private static func readKernel(_ source: Source, into destination: UnsafeMutableRawBufferPointer) -> Bool {
        #if canImport(Glibc)
        // Swift's Glibc module does not export getrandom(2); /dev/urandom is the same generator.
        guard let base = destination.baseAddress else { return true }
        var filled = 0
        while filled < destination.count {
            let result = read(source.descriptor, base + filled, destination.count - filled)
            if result > 0 {
                filled += result
            } else if !(result < 0 && errno == EINTR) {
                return false
            }
        }
        return true
        #else
        arc4random_buf(destination.baseAddress, destination.count)
        return true
        #endif
    }
}

extension SecureRandom {
    /// `SecureRandom` as a `RandomNumberGenerator`, for APIs that take one.
    ///
    /// Seeding a new store draws a million 32-byte salts: through `SystemRandomNumberGenerator`
    /// that was four million system calls, about a fifth of `init`'s time.
    public struct Generator: RandomNumberGenerator {
        public init() {}

        public mutating func next() -> UInt64 {
            var word: UInt64 = 0
            withUnsafeMutableBytes(of: &word) { SecureRandom.fill($0) }
            return word
        }
    }
}
