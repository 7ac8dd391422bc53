package dev.plexus;

/**
 * A plexus call failed or ended without doing what it was asked: one subclass per status
 * of the C API, so callers catch exactly what they handle ({@link Timeout},
 * {@link Closed}, {@link NotFound}, ...).
 *
 * <p>Every plexus exception is unchecked, timeouts included: most blocking calls have a
 * form without a timeout that never times out, and the calls shaped like
 * {@code java.util.concurrent} APIs ({@link SharedQueue#poll(java.time.Duration)},
 * {@link Mutex#tryLock(long, java.util.concurrent.TimeUnit)},
 * {@link Semaphore#tryAcquire(java.time.Duration)}) report a timeout by their return
 * value, as those APIs do. A checked exception would force a {@code try} around calls
 * that cannot time out. Interruption is the one checked exception: a blocked call throws
 * {@link InterruptedException}, as every blocking call of the JDK does.
 */
public class PlexusException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final int status;

  PlexusException(int status, String message) {
    super(Lib.statusName(status) + ": " + message);
    this.status = status;
  }

  /** The C status number ({@code PLEXUS_E_NOT_FOUND} is 102). */
  public int status() {
    return status;
  }

  /** The C status name, such as {@code "PLEXUS_E_NOT_FOUND"}. */
  public String code() {
    return Lib.statusName(status);
  }

  /** The exception for {@code status} with {@code message}. */
  static PlexusException of(int status, String message) {
    switch (status) {
      case Lib.TIMEOUT: return new Timeout(message);
      case Lib.CLOSED: return new Closed(message);
      case Lib.OWNER_DEAD: return new OwnerDead(message);
      case 100: return new InvalidArgument(message);
      case 101: return new BadHandle(message);
      case 102: return new NotFound(message);
      case 103: return new Exists(message);
      case 104: return new TypeMismatch(message);
      case 105: return new OutOfRange(message);
      case 106: return new NoSpace(message);
      case 107: return new Incompatible(message);
      case 108: return new Corrupt(message);
      case 109: return new Permission(message);
      case 110: return new Os(message);
      case 111: return new BufferTooSmall(message);
      case 112: return new Removed(message);
      case 113: return new Unavailable(message);
      case 114: return new RegionLost(message);
      case 115: return new Unsupported(message);
      case 116: return new Service(message);
      case 199: return new Internal(message);
      default: return new PlexusException(status, message);
    }
  }

  /** PLEXUS_TIMEOUT: a wait ended before its condition held (nothing was taken or changed). */
  public static final class Timeout extends PlexusException {
    private static final long serialVersionUID = 1L;
    Timeout(String m) { super(Lib.TIMEOUT, m); }
  }

  /** PLEXUS_CLOSED: the queue or bus was shut down (and, for takers, drained). */
  public static final class Closed extends PlexusException {
    private static final long serialVersionUID = 1L;
    Closed(String m) { super(Lib.CLOSED, m); }
  }

  /** PLEXUS_OWNER_DEAD: a service call's request was taken by a server that died before replying. */
  public static final class OwnerDead extends PlexusException {
    private static final long serialVersionUID = 1L;
    OwnerDead(String m) { super(Lib.OWNER_DEAD, m); }
  }

  /** PLEXUS_E_INVALID_ARGUMENT: a bad name, option, flag, value or timeout. */
  public static final class InvalidArgument extends PlexusException {
    private static final long serialVersionUID = 1L;
    InvalidArgument(String m) { super(100, m); }
  }

  /** PLEXUS_E_BAD_HANDLE: the object (or its region) was closed. */
  public static final class BadHandle extends PlexusException {
    private static final long serialVersionUID = 1L;
    BadHandle(String m) { super(101, m); }
  }

  /** PLEXUS_E_NOT_FOUND: the region, object or key does not exist. */
  public static final class NotFound extends PlexusException {
    private static final long serialVersionUID = 1L;
    NotFound(String m) { super(102, m); }
  }

  /** PLEXUS_E_EXISTS: exclusive creation, but it exists. */
  public static final class Exists extends PlexusException {
    private static final long serialVersionUID = 1L;
    Exists(String m) { super(103, m); }
  }

  /** PLEXUS_E_TYPE_MISMATCH: another kind of object has that name, or the value's type does not fit the operation. */
  public static final class TypeMismatch extends PlexusException {
    private static final long serialVersionUID = 1L;
    TypeMismatch(String m) { super(104, m); }
  }

  /** PLEXUS_E_OUT_OF_RANGE: an index past the end. */
  public static final class OutOfRange extends PlexusException {
    private static final long serialVersionUID = 1L;
    OutOfRange(String m) { super(105, m); }
  }

  /** PLEXUS_E_NO_SPACE: the region (or the map) is full. */
  public static final class NoSpace extends PlexusException {
    private static final long serialVersionUID = 1L;
    NoSpace(String m) { super(106, m); }
  }

  /** PLEXUS_E_INCOMPATIBLE: another format version, or another shape (length, capacity) than asked. */
  public static final class Incompatible extends PlexusException {
    private static final long serialVersionUID = 1L;
    Incompatible(String m) { super(107, m); }
  }

  /** PLEXUS_E_CORRUPT: the region failed validation. */
  public static final class Corrupt extends PlexusException {
    private static final long serialVersionUID = 1L;
    Corrupt(String m) { super(108, m); }
  }

  /** PLEXUS_E_PERMISSION: the operating system (or the Redis server) denied access. */
  public static final class Permission extends PlexusException {
    private static final long serialVersionUID = 1L;
    Permission(String m) { super(109, m); }
  }

  /** PLEXUS_E_OS: another operating system error. */
  public static final class Os extends PlexusException {
    private static final long serialVersionUID = 1L;
    Os(String m) { super(110, m); }
  }

  /** PLEXUS_E_BUFFER_TOO_SMALL (the binding sizes its buffers, so this is not expected). */
  public static final class BufferTooSmall extends PlexusException {
    private static final long serialVersionUID = 1L;
    BufferTooSmall(String m) { super(111, m); }
  }

  /** PLEXUS_E_REMOVED: the region or the object was removed while this handle was open; open it again. */
  public static final class Removed extends PlexusException {
    private static final long serialVersionUID = 1L;
    Removed(String m) { super(112, m); }
  }

  /** PLEXUS_E_UNAVAILABLE: a remote region's server did not answer in time; retry with the same handles. */
  public static final class Unavailable extends PlexusException {
    private static final long serialVersionUID = 1L;
    Unavailable(String m) { super(113, m); }
  }

  /** PLEXUS_E_REGION_LOST: a remote region's state vanished from its server; open it again. */
  public static final class RegionLost extends PlexusException {
    private static final long serialVersionUID = 1L;
    RegionLost(String m) { super(114, m); }
  }

  /** PLEXUS_E_UNSUPPORTED: not on this backend; the message names the alternative. */
  public static final class Unsupported extends PlexusException {
    private static final long serialVersionUID = 1L;
    Unsupported(String m) { super(115, m); }
  }

  /** PLEXUS_E_SERVICE: a service's handler replied with an error (its message is this one's). */
  public static final class Service extends PlexusException {
    private static final long serialVersionUID = 1L;
    Service(String m) { super(116, m); }
  }

  /** PLEXUS_E_INTERNAL: a bug in plexus; please report the message. */
  public static final class Internal extends PlexusException {
    private static final long serialVersionUID = 1L;
    Internal(String m) { super(199, m); }
  }
}
