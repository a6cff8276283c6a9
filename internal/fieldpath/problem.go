package fieldpath

// Problem is one thing wrong with a document, located by field path, e.g.
// Field "applications[0].microservices[1].memory", Message "must be >= 0".
// Field is "" for problems with the document as a whole.
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// String renders the problem as "field: message", or just the message when it
// is about the whole document.
func (p Problem) String() string {
	if p.Field == "" {
		return p.Message
	}
	return p.Field + ": " + p.Message
}
