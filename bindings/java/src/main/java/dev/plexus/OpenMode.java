package dev.plexus;

/** How {@link Region#open(String, Region.Options)} treats an existing or missing region. */
public enum OpenMode {
  /** Open it if it exists, else create it (the default). */
  OPEN_OR_CREATE,
  /** Create it; {@link PlexusException.Exists} if it exists. */
  CREATE,
  /** Open an existing region, waiting up to {@link Region.Options#waitFor} for it to appear. */
  OPEN,
  /** Remove any existing region of that name first, then create it. */
  RECREATE
}
