package actor

import "errors"

// ErrConfig is wrapped by every error Config.Validate and NewHost return for bad settings.
var ErrConfig = errors.New("actor: invalid config")
