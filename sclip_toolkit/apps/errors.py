"""The one error the page shows as a line of its own."""


class UserError(ValueError):
    """Bad input from the page (image, classes, methods, settings, weights): shown there as one line."""
