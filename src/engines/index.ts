// The engines' table: which module starts each shape (config/shapes.ts says what each shape is).
import type { Shape } from "../config/schema.js";
import { startClusterEngine } from "./cluster.js";
import { startEmbeddedEngine } from "./embedded.js";
import type { Engine, EngineContext } from "./engine.js";
import { startOpenIMEngine } from "./openim.js";

const ENGINES: Record<Shape, (ctx: EngineContext, registerAs: string | undefined) => Promise<Engine>> = {
  embedded: (ctx) => startEmbeddedEngine(ctx),
  cluster: (ctx) => startClusterEngine(ctx),
  openim: (ctx, registerAs) => startOpenIMEngine(ctx, registerAs),
};

export function startEngine(ctx: EngineContext, registerAs: string | undefined): Promise<Engine> {
  return ENGINES[ctx.config.shape](ctx, registerAs);
}
