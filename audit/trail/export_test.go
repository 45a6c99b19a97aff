package trail

// ParseText exposes the unsigned parser to fuzzing.
var ParseText = parseText
