//! Virtual Quectel modules and a firmware-package builder.
