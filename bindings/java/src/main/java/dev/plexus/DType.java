package dev.plexus;

/** The element type of a {@link TypedArray}, and the Java array that holds its copies. */
public enum DType {
  I8(1, 1), U8(2, 1), I16(3, 2), U16(4, 2), I32(5, 4), U32(6, 4), I64(7, 8), U64(8, 8), F32(9, 4), F64(10, 8);

  final int code;
  /** Bytes per element. */
  public final int size;

  DType(int code, int size) {
    this.code = code;
    this.size = size;
  }

  static DType of(int code) {
    for (DType d : values()) if (d.code == code) return d;
    throw PlexusException.of(199, "unknown dtype " + code);
  }
}
