"""Model-family adapters: one module per family, looked up by name through ``REGISTRY``."""

from __future__ import annotations

from adapters.base import Adapter
from adapters.deepseek_v3 import DeepSeekV3Adapter
from adapters.deepseek_v32 import DeepSeekV32Adapter
from adapters.glm4 import Glm4Adapter
from adapters.glm45 import Glm45Adapter
from adapters.glm47 import Glm47Adapter
from adapters.gpt_oss import GptOssAdapter
from adapters.hermes import HermesAdapter
from adapters.kimi_k2 import KimiK2Adapter
from adapters.llama3_json import Llama3JsonAdapter
from adapters.minimax_m2 import MiniMaxM2Adapter
from adapters.mistral import MistralAdapter
from adapters.pythonic import PythonicAdapter
from adapters.qwen3 import Qwen3Adapter
from adapters.qwen3_coder import Qwen3CoderAdapter

# Families register here, one line each; the config loader rejects any family name not in this
# dict at start-up.
REGISTRY: dict[str, Adapter] = {
    "hermes": HermesAdapter(),
    "qwen3": Qwen3Adapter(),
    "llama3_json": Llama3JsonAdapter(),
    "pythonic": PythonicAdapter(),
    "deepseek_v3": DeepSeekV3Adapter(),
    "glm4": Glm4Adapter(),
    "glm45": Glm45Adapter(),
    "mistral": MistralAdapter(),
    "gpt_oss": GptOssAdapter(),
    "kimi_k2": KimiK2Adapter(),
    "deepseek_v32": DeepSeekV32Adapter(),
    "qwen3_coder": Qwen3CoderAdapter(),
    "glm47": Glm47Adapter(),
    "minimax_m2": MiniMaxM2Adapter(),
}
