// openai-node against toolrelay, one mode per run; tests/clients/test_openai_node.py drives it.
//   node client.mjs MODE BASE_URL MODEL QUESTION
// MODE: stream (chat.completions.stream with a strict zod tool), run-tools / run-tools-stream
// (chat.completions.runTools with the same tool, which it calls, non-streamed / streamed).
// Prints one JSON object on stdout; any error from the SDK fails the run (exit 1, message on stderr).
import OpenAI from 'openai';
import { zodFunction } from 'openai/helpers/zod';
import { z } from 'zod';

const [mode, baseURL, model, question] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: 'client-key', maxRetries: 0, timeout: 30_000 });
const GetWeather = z.object({ location: z.string().describe('a city name') });
const report = ({ location }) => `${location}: sunny, 21 C`;
const messages = [{ role: 'user', content: question }];

function weatherTool(withCallback) {
  return zodFunction({
    name: 'get_weather',
    description: 'The current weather in a city',
    parameters: GetWeather,
    ...(withCallback ? { function: report } : {}),
  });
}

const calls = (message) =>
  (message.tool_calls ?? []).map((c) => ({
    id: c.id,
    name: c.function.name,
    arguments: c.function.arguments,
    parsed: c.function.parsed_arguments ?? null,
  }));

async function stream() {
  const tool = weatherTool(false);
  const done = [];
  const runner = client.chat.completions.stream({ model, messages, tools: [tool] });
  runner.on('tool_calls.function.arguments.done', (e) =>
    done.push({ index: e.index, name: e.name, arguments: e.arguments, parsed: e.parsed_arguments ?? null }),
  );
  const final = await runner.finalChatCompletion();
  const [choice] = final.choices;
  return { strict: tool.function.strict, done, finish_reason: choice.finish_reason, calls: calls(choice.message) };
}

async function runTools(streamed) {
  const tool = weatherTool(true);
  const runner = client.chat.completions.runTools({ model, messages, tools: [tool], stream: streamed });
  const content = await runner.finalContent();
  return {
    strict: tool.function.strict,
    content,
    messages: runner.messages.map((m) => ({
      role: m.role,
      content: m.content ?? null,
      tool_call_id: m.tool_call_id ?? null,
      calls: m.role === 'assistant' ? calls(m) : [],
    })),
  };
}

const modes = { stream, 'run-tools': () => runTools(false), 'run-tools-stream': () => runTools(true) };
if (!(mode in modes)) {
  console.error(`unknown mode ${mode}; one of ${Object.keys(modes).join(', ')}`);
  process.exit(2);
}
try {
  process.stdout.write(JSON.stringify(await modes[mode]()) + '\n');
} catch (err) {
  console.error(`${err?.constructor?.name ?? 'Error'}: ${err?.message ?? err}`);
  process.exit(1);
}
