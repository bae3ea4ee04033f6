"""The screen: an rqt plugin, the widget it shows and a standalone window around the same widget."""
