package plugin

// ImageOf is the plugin's choice of a container's image name, for the
// external tests (the fuzzer checks selection against exactly it).
var ImageOf = imageOf

// NameOf is the plugin's choice of a container's name.
var NameOf = nameOf
