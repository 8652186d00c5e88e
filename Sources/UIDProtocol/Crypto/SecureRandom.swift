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
public enum SecureRandom {
    private static let bufferSize = 4_096

    private final class ThreadBuffer {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: SecureRandom.bufferSize, alignment: 16)
        var offset = SecureRandom.bufferSize

        deinit {
            // Leave no unused randomness behind in freed memory.
            storage.initializeMemory(as: UInt8.self, repeating: 0)
            storage.deallocate()
        }
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { pointer in
            guard let pointer else { return }
            Unmanaged<ThreadBuffer>.fromOpaque(pointer).release()
        }
        precondition(status == 0, "pthread_key_create failed")
        return key
    }()

    #if canImport(Glibc)
    private static let urandom: Int32 = {
        let descriptor = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        precondition(descriptor >= 0, "cannot open /dev/urandom: \(errno)")
        return descriptor
    }()
    #endif

    private static var threadBuffer: ThreadBuffer {
        if let pointer = pthread_getspecific(key) {
            return Unmanaged<ThreadBuffer>.fromOpaque(pointer).takeUnretainedValue()
        }
        let buffer = ThreadBuffer()
        pthread_setspecific(key, Unmanaged.passRetained(buffer).toOpaque())
        return buffer
    }

    /// Fills `destination` with random bytes.
    public static func fill(_ destination: UnsafeMutableRawBufferPointer) {
        guard destination.count <= bufferSize / 4 else {
            readKernel(into: destination)
            return
        }
        let buffer = threadBuffer
        if buffer.offset + destination.count > bufferSize {
            readKernel(into: buffer.storage)
            buffer.offset = 0
        }
        let source = UnsafeMutableRawBufferPointer(rebasing: buffer.storage[buffer.offset..<(buffer.offset + destination.count)])
        destination.copyMemory(from: UnsafeRawBufferPointer(source))
        source.initializeMemory(as: UInt8.self, repeating: 0)
        buffer.offset += destination.count
    }

    public static func bytes(_ count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { storage, initialized in
            fill(UnsafeMutableRawBufferPointer(storage))
            initialized = count
        }
    }

    private static func readKernel(into destination: UnsafeMutableRawBufferPointer) {
        #if canImport(Glibc)
        // Swift's Glibc module does not export getrandom(2); /dev/urandom is the same generator.
        var filled = 0
        while filled < destination.count {
            let result = read(urandom, destination.baseAddress! + filled, destination.count - filled)
            if result > 0 {
                filled += result
            } else {
                precondition(result < 0 && errno == EINTR, "reading /dev/urandom failed: \(errno)")
            }
        }
        #else
        arc4random_buf(destination.baseAddress, destination.count)
        #endif
    }
}
