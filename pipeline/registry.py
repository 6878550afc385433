"""The registry of components, filled by the `register_*` hooks, one plugin at a time."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.components import CATEGORIES, Component
from pipeline.errors import exception_text
from pipeline.plugins import PluginHost, call_each_plugin
from pipeline.redact import redact_text

HOOKS = {
    "source": "register_sources",
    "transform": "register_transforms",
    "sink": "register_sinks",
    "delivery": "register_deliveries",
}


@dataclass(frozen=True)
class Registered:
    component: type[Component]
    plugin: str


@dataclass(frozen=True)
class Refused:
    """A component the registry did not take because a plugin registered its name first (`owner`: another, or
    this one, registering the name twice); the plugin's other components are registered as usual."""

    category: str
    name: str
    plugin: str
    owner: str

    @property
    def reason(self) -> str:
        if self.owner == self.plugin:
            return (f"{self.category} {self.name!r} was not registered a second time: give each component a name "
                    f"of its own")
        return (f"{self.category} {self.name!r} was not registered: plugin {self.owner!r} registered that name "
                f"first; block one with PIPELINE_BLOCK_PLUGINS")


class Registry:
    def __init__(self) -> None:
        self._components: dict[str, dict[str, Registered]] = {category: {} for category in CATEGORIES}
        self.problems: list[str] = []
        self.refused: list[Refused] = []  # components not taken: their name was taken (by another plugin, or twice)

    def add(self, category: str, component: type[Component], plugin: str) -> None:
        base = CATEGORIES[category]
        name = getattr(component, "name", None)
        if not (isinstance(component, type) and issubclass(component, base)):
            self.problems.append(f"plugin {plugin!r} registered {component!r} as a {category}, "
                                 f"but it is not a subclass of {base.__name__}")
            return
        if not isinstance(name, str) or not name:
            self.problems.append(f"plugin {plugin!r}: {component.__name__} has no `name`")
            return
        existing = self._components[category].get(name)
        if existing:
            self.problems.append(
                f"plugin {plugin!r} registers {category} {name!r} twice; give each component a name of its own"
                if existing.plugin == plugin else f"{category} {name!r} is registered by both plugin "
                f"{existing.plugin!r} and plugin {plugin!r}; block one with PIPELINE_BLOCK_PLUGINS")
            self.refused.append(Refused(category, name, plugin, existing.plugin))
            return
        self._components[category][name] = Registered(component, plugin)

    def get(self, category: str, name: str) -> Registered | None:
        return self._components[category].get(name)

    def names(self, category: str) -> list[str]:
        return sorted(self._components[category])

    def all(self) -> list[tuple[str, str, Registered]]:
        return [(category, name, reg) for category, comps in self._components.items()
                for name, reg in sorted(comps.items())]


def build_registry(host: PluginHost) -> Registry:
    """Call each `register_*` hook once per plugin, so every component is credited to its plugin."""
    registry = Registry()
    for category, hook_name in HOOKS.items():
        def kwargs_for(plugin: str, category=category) -> dict:
            return {"register": lambda component: registry.add(category, component, plugin)}

        for name, exc in call_each_plugin(host.pm, hook_name, kwargs_for).items():
            host.broken[name] = redact_text(f"{hook_name} raised {type(exc).__name__}: {exception_text(exc)}")
    return registry
