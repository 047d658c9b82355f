/**
 * Typed errors. Every error says what was expected, what was given, and how to fix it.
 *
 * The CLI maps them to exit codes: usage and input errors (ConfigError, ShapeError,
 * FormatError, UsageError) exit 2; resource and runtime failures exit 1.
 */

/** Base class of every error this library throws on purpose. */
export class ReformerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** An invalid configuration field or combination of fields (HF `ReformerConfig` names). */
export class ConfigError extends ReformerError {
  /** The HF config field at fault, e.g. `axial_pos_shape`. */
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

/** A tensor or array whose shape, length, dtype or values do not fit the operation. */
export class ShapeError extends ReformerError {}

/** A file or byte buffer that does not follow its format (safetensors, config.json, checkpoints, data). */
export class FormatError extends ReformerError {}

/** A command-line usage mistake (unknown flag value, missing argument). */
export class UsageError extends ReformerError {}

/** A request that would need more memory than the machine or the WASM memory (4 GiB) can give. */
export class ResourceError extends ReformerError {}

/** A numerical failure during training, e.g. a NaN or infinite loss. */
export class NumericalError extends ReformerError {}
