"""Correct variant (g) of the corpus, written from the spec alone: a beginner's loops, RMSprop, and
train calling mle_loss through a module-level alias (LOSS = mle_loss): still the student's own loss
on every minibatch, which the check counts by the function's code, not its name."""
import math
import torch
import torch.nn as nn


###########################################################################
# Part 1: tensors and data
###########################################################################

def to_tensor(values):
    # make a tensor out of the python list and convert it to float32
    tensor = torch.tensor(values)
    tensor = tensor.to(torch.float32)
    return tensor


def normalize(images):
    # pixel values are 0..255, we want -1..1
    images_as_float = images.type(torch.float32)
    scaled = images_as_float / 127.5
    shifted = scaled - 1.0
    return shifted


def flatten(images):
    number_of_images = images.shape[0]
    number_of_rows = images.shape[1]
    number_of_columns = images.shape[2]
    flat = torch.empty(number_of_images, number_of_rows * number_of_columns,
                       dtype=images.dtype, device=images.device)
    # copy row r of every image into its place in the long vector
    for r in range(number_of_rows):
        start = r * number_of_columns
        end = start + number_of_columns
        flat[:, start:end] = images[:, r, :]
    return flat


def one_hot(labels, num_classes=10):
    number_of_labels = labels.shape[0]
    result = torch.zeros(number_of_labels, num_classes, dtype=torch.float32, device=labels.device)
    row_indices = torch.arange(number_of_labels, device=labels.device)
    result[row_indices, labels] = 1.0
    return result


###########################################################################
# Part 2: activations
###########################################################################

def sigmoid(x):
    result = torch.empty_like(x)
    positive = x >= 0
    negative = ~positive
    # for x >= 0 use the formula directly, e^-x is small
    result[positive] = 1.0 / (1.0 + torch.exp(-x[positive]))
    # for x < 0 multiply top and bottom by e^x so nothing blows up
    exp_of_x = torch.exp(x[negative])
    result[negative] = exp_of_x / (1.0 + exp_of_x)
    return result


def tanh(x):
    result = torch.empty_like(x)
    positive = x >= 0
    negative = ~positive
    # x >= 0: divide top and bottom by e^x
    exp_minus_2x = torch.exp(-2.0 * x[positive])
    result[positive] = (1.0 - exp_minus_2x) / (1.0 + exp_minus_2x)
    # x < 0: divide top and bottom by e^-x
    exp_2x = torch.exp(2.0 * x[negative])
    result[negative] = (exp_2x - 1.0) / (exp_2x + 1.0)
    return result


def relu(x):
    mask = (x > 0).to(x.dtype)
    return x * mask


def leaky_relu(x):
    slope = 0.1
    return torch.maximum(slope * x, x)


###########################################################################
# Part 3: layers
###########################################################################

def linear(x, W, b):
    output = x.mm(W)
    output = output + b
    return output


class MLP(nn.Module):
    def __init__(self, sizes=(784, 128, 64, 10), activation="relu"):
        super().__init__()
        allowed = ["sigmoid", "tanh", "relu", "leaky_relu"]
        if activation not in allowed:
            raise ValueError("activation should be one of " + str(allowed))
        self.sizes = list(sizes)
        self.activation = activation

        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        number_of_layers = len(self.sizes) - 1
        for layer in range(number_of_layers):
            d_in = self.sizes[layer]
            d_out = self.sizes[layer + 1]
            bound = 1.0 / math.sqrt(d_in)
            W = torch.rand(d_in, d_out) * 2 * bound - bound
            b = torch.rand(d_out) * 2 * bound - bound
            self.weights.append(nn.Parameter(W))
            self.biases.append(nn.Parameter(b))

    def apply_activation(self, h):
        if self.activation == "sigmoid":
            return sigmoid(h)
        elif self.activation == "tanh":
            return tanh(h)
        elif self.activation == "relu":
            return relu(h)
        elif self.activation == "leaky_relu":
            return leaky_relu(h)
        else:
            raise ValueError("unknown activation")

    def forward(self, x):
        h = x
        number_of_layers = len(self.weights)
        for layer in range(number_of_layers):
            h = linear(h, self.weights[layer], self.biases[layer])
            is_last_layer = layer == number_of_layers - 1
            if not is_last_layer:
                h = self.apply_activation(h)
        logits = h
        return logits


###########################################################################
# Part 4: probability and MLE
###########################################################################

def softmax(logits):
    biggest = torch.max(logits, dim=-1, keepdim=True).values
    exps = torch.exp(logits - biggest)
    total = torch.sum(exps, dim=-1, keepdim=True)
    probabilities = exps / total
    return probabilities


def mle_loss(logits, targets):
    biggest = torch.max(logits, dim=-1, keepdim=True).values
    shifted = logits - biggest
    log_sum_exp = torch.log(torch.sum(torch.exp(shifted), dim=-1, keepdim=True))
    log_probabilities = shifted - log_sum_exp
    batch_size = logits.shape[0]
    rows = torch.arange(batch_size, device=logits.device)
    log_prob_of_correct_class = log_probabilities[rows, targets]
    loss = -torch.mean(log_prob_of_correct_class)
    return loss


def predict(logits):
    predictions = torch.argmax(logits, dim=-1)
    return predictions


def accuracy(logits, targets):
    predictions = predict(logits)
    number_correct = (predictions == targets).sum().item()
    number_total = targets.shape[0]
    if number_total == 0:
        return 0.0
    return float(number_correct) / float(number_total)


###########################################################################
# Part 5: training
###########################################################################

def train(model, images, labels, *, epochs=3, lr=1e-3, batch_size=128, seed=0):
    torch.manual_seed(seed)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=lr)
    number_of_examples = images.shape[0]
    number_of_batches = math.ceil(number_of_examples / batch_size)

    for epoch in range(epochs):
        shuffled_indices = torch.randperm(number_of_examples, device=images.device)
        for batch_number in range(number_of_batches):
            start = batch_number * batch_size
            end = min(start + batch_size, number_of_examples)
            batch_indices = shuffled_indices[start:end]
            batch_images = images[batch_indices]
            batch_labels = labels[batch_indices]

            logits = model(batch_images)
            loss = LOSS(logits, batch_labels)

            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return model

LOSS = mle_loss
