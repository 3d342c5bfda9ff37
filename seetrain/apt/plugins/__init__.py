"""APT plugins. Import a plugin class by name with :func:`plugin_class` or from its module."""

from .base import HOOKS, PLUGIN_CLASSES, APTPlugin, PluginManager, plugin_class

__all__ = ["APTPlugin", "PluginManager", "plugin_class", "PLUGIN_CLASSES", "HOOKS"]
