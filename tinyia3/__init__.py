"""tinyia3: GPT-2 with IA³ fine-tuning, forward and backward written by hand in NumPy."""

from . import allocator  # first: keeps freed activation memory for reuse (see allocator.py)
from .config import GPT2Config
from .generate import generate
from .ia3 import IA3
from .loading import load_model, load_tokenizer
from .adapter_files import load_adapter, merge
from .bitfit import BitFit
from .errors import TinyIA3Error
from .full import FullFineTune
from .losses import loss, loss_and_grad
from .lora import LoRA
from .model import GPT2
from .quantized import quantize

__all__ = ["BitFit", "FullFineTune", "GPT2", "GPT2Config", "IA3", "LoRA", "generate", "load_adapter", "load_model",
           "load_tokenizer", "loss", "loss_and_grad", "merge", "TinyIA3Error"]
__all__ += ["quantize"]
__version__ = "0.1.0"
