"""Templates of `predictorapi init`: `{{name}}`, `{{image}}` and `{{base_image}}` are filled in."""
