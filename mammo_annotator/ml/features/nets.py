"""ResNet-18/34/50 and VGG-16 written out with torchvision's state-dict key names, so a
torchvision ImageNet checkpoint loads with a strict key check (torchvision itself cannot be
installed beside this torch). Only the convolutional trunk is used for features."""

from __future__ import annotations

from torch import nn


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inp: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + idt)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inp: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + idt)


class ResNet(nn.Module):
    def __init__(self, block, layers: list[int], num_classes: int = 1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make(block, 64, layers[0], 1)
        self.layer2 = self._make(block, 128, layers[1], 2)
        self.layer3 = self._make(block, 256, layers[2], 2)
        self.layer4 = self._make(block, 512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make(self, block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        down = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            down = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                 nn.BatchNorm2d(planes * block.expansion))
        mods = [block(self.inplanes, planes, stride, down)]
        self.inplanes = planes * block.expansion
        mods += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def trunk(self, layer: str) -> nn.Sequential:
        """conv1 .. ``layer`` (layer1-4) as one module (shares the weights)."""
        mods = [self.conv1, self.bn1, self.relu, self.maxpool]
        for name in ("layer1", "layer2", "layer3", "layer4"):
            mods.append(getattr(self, name))
            if name == layer:
                return nn.Sequential(*mods)
        raise ValueError(f"unknown ResNet layer {layer!r}")


VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
VGG16_CUTS = {"conv3_3": 16, "conv4_3": 23, "conv5_3": 30}  # end index (exclusive) after the ReLU


class VGG(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        mods, c = [], 3
        for v in VGG16_CFG:
            if v == "M":
                mods.append(nn.MaxPool2d(2, 2))
            else:
                mods += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*mods)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(nn.Linear(512 * 49, 4096), nn.ReLU(True), nn.Dropout(),
                                        nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(), nn.Linear(4096, num_classes))

    def trunk(self, layer: str) -> nn.Sequential:
        if layer not in VGG16_CUTS:
            raise ValueError(f"unknown VGG-16 layer {layer!r}; known: {sorted(VGG16_CUTS)}")
        return self.features[: VGG16_CUTS[layer]]


# arch -> (constructor, {layer: (stride, channels)}, head key prefix)
ARCHS = {
    "resnet18": (lambda: ResNet(BasicBlock, [2, 2, 2, 2]),
                 {"layer2": (8, 128), "layer3": (16, 256), "layer4": (32, 512)}, "fc."),
    "resnet34": (lambda: ResNet(BasicBlock, [3, 4, 6, 3]),
                 {"layer2": (8, 128), "layer3": (16, 256), "layer4": (32, 512)}, "fc."),
    "resnet50": (lambda: ResNet(Bottleneck, [3, 4, 6, 3]),
                 {"layer2": (8, 512), "layer3": (16, 1024), "layer4": (32, 2048)}, "fc."),
    "vgg16": (VGG, {"conv3_3": (4, 256), "conv4_3": (8, 512), "conv5_3": (16, 512)}, "classifier."),
}
