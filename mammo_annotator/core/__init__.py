"""Pure numpy/pydicom layer: image data, geometry, regions and labels. No torch, no SQL, no Qt."""
