"""scalenet-space's default FLOPs convention against torch's own counter.

It lives here because the supernet session has torch; the space package's session does not (a
test there could only skip).
"""

import torch
from torch.utils.flop_counter import FlopCounterMode

from scalenet.space.rules import conv_out_size


def test_default_convention_is_what_pytorch_computes() -> None:
    for size, kernel in ((19, 3), (38, 5), (177, 7)):
        conv = torch.nn.Conv2d(4, 4, kernel, stride=2, padding=kernel // 2, groups=4, bias=False)
        with FlopCounterMode(display=False) as counter:
            out = conv(torch.zeros(1, 4, size, size))
        assert out.shape[-1] == conv_out_size(size, 2) == -(-size // 2)
        assert counter.get_total_flops() // 2 == 4 * kernel * kernel * conv_out_size(size, 2) ** 2
        assert conv_out_size(size, 2, "official") == size // 2
