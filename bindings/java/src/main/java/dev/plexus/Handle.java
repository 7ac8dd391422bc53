package dev.plexus;

/**
 * An open object of a region: its id, the region it was opened through, and close().
 * Closing gives back the handle; it never changes the object.
 */
abstract class Handle implements AutoCloseable {
  final Region region;
  final String name;
  final long id;
  private final String kind;
  private volatile boolean closed;

  Handle(Region region, String name, String kind, long id) {
    this.region = region;
    this.name = name;
    this.kind = kind;
    this.id = id;
  }

  /** The object's name in its region. */
  public String name() {
    return name;
  }

  /** The region this handle was opened through. */
  public Region region() {
    return region;
  }

  /** Gives back the handle (the object stays in the region). A second close does nothing. */
  @Override
  public void close() {
    if (closed) return;
    closed = true;
    int st = Lib.call(kind + "_close", id);
    // The region's close closes its objects' handles: nothing is left to give back then.
    if (st != Lib.OK && st != 101) throw Lib.error(st);
  }

  @Override
  public String toString() {
    return getClass().getSimpleName() + "(" + name + ")";
  }
}
