package dev.plexus;

/** What {@code watch} returns: the element's version and its value at that version. */
public record Watched(long version, Object value) {}
