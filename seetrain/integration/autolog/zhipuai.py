"""ZhipuAI autolog: record every ``client.chat.completions.create`` call (streamed or not).

    from seetrain.integration import enable_zhipuai_autolog
    autolog = enable_zhipuai_autolog(project="glm")
    client = zhipuai.ZhipuAI(api_key=...)
    client.chat.completions.create(model="glm-4", messages=[...])   # recorded

ZhipuAI answers in the OpenAI chat format, so the same reader is used. The 2.x package has no
asyncio client. What is recorded: see :mod:`seetrain.integration.autolog._base`.
"""

from __future__ import annotations

from ._base import AutologBase
from ._formats import ChatCompletions

_CHAT = ChatCompletions()


class ZhipuAIAutolog(AutologBase):
    """Autolog for ``zhipuai`` 2.x; keys start with ``zhipuai/``."""

    provider = "zhipuai"
    distribution = "zhipuai"
    tested_versions = ">=2.0,<3"
    targets = (
        ("zhipuai.api_resource.chat.completions", "Completions", "create", _CHAT, False),
    )
