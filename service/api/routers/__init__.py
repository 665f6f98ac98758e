"""One router per feature, each reading the application object from `request.app.state`."""
